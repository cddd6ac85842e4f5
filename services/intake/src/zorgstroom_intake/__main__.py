"""`python -m zorgstroom_intake`: serve intake with settings from the environment."""

from zorgstroom_intake.bootstrap import main

main()
