"""`python -m zorgstroom_placement`: serve placement with settings from the environment."""

from zorgstroom_placement.bootstrap import DEFINITION
from zorgstroom_runtime.app import serve

serve(DEFINITION)
