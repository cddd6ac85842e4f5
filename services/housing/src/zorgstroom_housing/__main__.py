"""`python -m zorgstroom_housing`: serve housing with settings from the environment."""

from zorgstroom_housing.bootstrap import DEFINITION
from zorgstroom_runtime.app import serve

serve(DEFINITION)
