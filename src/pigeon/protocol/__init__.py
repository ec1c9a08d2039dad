"""Sans-I/O protocol: frame types, codecs, error and close codes.

Nothing here performs I/O or imports another Pigeon package.
"""

from __future__ import annotations
