"""The organisation signing identity and the trust anchors.

>>> from trustavatar.home import Home
>>> from trustavatar.keys import Keystore
>>> ks = Keystore.create(Home.resolve("/tmp/h"), organisation="Example Studio")  # doctest: +SKIP
>>> key = ks.signing_key()  # doctest: +SKIP
"""

from trustavatar.keys.keystore import Keystore, SigningIdentity, SigningKey
from trustavatar.keys.trust import Anchor, TrustStore, validate_chain

__all__ = ["Anchor", "Keystore", "SigningIdentity", "SigningKey", "TrustStore", "validate_chain"]
