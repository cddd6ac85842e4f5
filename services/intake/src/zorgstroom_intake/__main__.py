"""`python -m zorgstroom_intake`: serve intake with settings from the environment."""

from zorgstroom_intake.bootstrap import DEFINITION
from zorgstroom_runtime.app import serve

serve(DEFINITION)
