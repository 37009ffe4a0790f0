"""Admission: who is calling (API keys, session cookies, login tokens) and whether they may."""
