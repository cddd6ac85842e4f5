"""`python -m zorgstroom_intake`: serve intake with settings from the environment."""

from zorgstroom_intake.bootstrap import build
from zorgstroom_runtime.app import serve
from zorgstroom_runtime.settings import ServiceSettings

settings = ServiceSettings(service_name="intake")
serve(lambda: build(settings), settings)
