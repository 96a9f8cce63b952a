"""Lower layer shared by trainer/, evaluation/ and app.py: model loading, bundled data, caching.

It imports none of those packages.
"""
