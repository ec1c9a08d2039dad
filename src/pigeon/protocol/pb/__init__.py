"""Code generated from proto/pigeon/v1/pigeon.proto; regenerate with ``proto/generate.py``.

Do not edit these files: a unit test regenerates them and fails on any difference.
"""
