"""Fixtures for this service's own tests.

This file is yours: template releases never change it. conftest.py, which is
the template's, defines the template's fixtures (``app``, ``client``, ``runner``
and, with accounts, ``auth``) and loads this file, so a fixture defined here is
available to every test as those are. Put your tests in files of your own too
(``test_widgets.py``, say): releases update the template's test files.
"""
