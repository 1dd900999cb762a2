"""``python -m onboardkit_django.demo``: see :mod:`onboardkit_django.demo`."""

from onboardkit_django.demo import main

main()
