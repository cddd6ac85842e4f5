"""`python -m zorgstroom_reporting`: serve reporting with settings from the environment."""

from zorgstroom_reporting.bootstrap import build
from zorgstroom_runtime.app import serve
from zorgstroom_runtime.settings import ServiceSettings

settings = ServiceSettings(service_name="reporting")
serve(lambda: build(settings), settings)
