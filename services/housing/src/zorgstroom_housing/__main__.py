"""`python -m zorgstroom_housing`: serve housing with settings from the environment."""

from zorgstroom_housing.bootstrap import build
from zorgstroom_runtime.app import serve
from zorgstroom_runtime.settings import ServiceSettings

settings = ServiceSettings(service_name="housing")
serve(lambda: build(settings), settings)
