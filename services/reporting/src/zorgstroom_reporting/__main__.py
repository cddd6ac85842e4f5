"""`python -m zorgstroom_reporting`: serve reporting with settings from the environment."""

from zorgstroom_reporting.bootstrap import DEFINITION
from zorgstroom_runtime.app import serve

serve(DEFINITION)
