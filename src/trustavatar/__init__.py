"""trustavatar: trustworthy AI avatars.

Subpackages, one per part:

- :mod:`trustavatar.keys` — the organisation signing identity and trust anchors;
- :mod:`trustavatar.provenance` — C2PA manifests: sign and verify;
- :mod:`trustavatar.consent` — signed, scoped, expiring, revocable consent artifacts;
- :mod:`trustavatar.face` — face embeddings that bind a consent to a face.

Errors: :mod:`trustavatar.errors`.
"""

from trustavatar._version import __version__

__all__ = ["__version__"]
