"""`python -m zorgstroom_placement`: serve placement with settings from the environment."""

from zorgstroom_placement.bootstrap import build
from zorgstroom_runtime.app import serve
from zorgstroom_runtime.settings import ServiceSettings

settings = ServiceSettings(service_name="placement")
serve(lambda: build(settings), settings)
