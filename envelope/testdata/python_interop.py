#!/usr/bin/python3
"""Make the python-securesystemslib interop fixtures (see README.md).

Run from envelope/testdata with Debian's python3-securesystemslib (0.26.0):
    /usr/bin/python3 python_interop.py
It reads the openssl-made keys and writes:
  keyids.json             key ids computed by Python (canonical JSON + sha256)
  <key>.sslib.json        classic securesystemslib public key dicts
  <key>.tuf.json          TUF/modern securesystemslib public key dicts
  python-<key>.dsse.json  DSSE envelopes signed by securesystemslib
  python-all.dsse.json    one envelope signed by all four keys
"""

import base64
import hashlib
import json

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from securesystemslib import formats, keys

KEYS = {
    # file stem: (keytype, scheme)
    "ed25519": ("ed25519", "ed25519"),
    "p256": ("ecdsa", "ecdsa-sha2-nistp256"),
    "p384": ("ecdsa", "ecdsa-sha2-nistp384"),
    "rsa3072": ("rsa", "rsassa-pss-sha256"),
}

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT = {
    "_type": "https://in-toto.io/Statement/v1",
    "subject": [
        {
            "name": "hello.tar.gz",
            "digest": {
                "sha256": "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
            },
        }
    ],
    "predicateType": "https://trustd.dev/test/v1",
    "predicate": {"made-by": "python-securesystemslib"},
}


def pae(payload_type, payload):
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def keyid(d):
    return hashlib.sha256(formats.encode_canonical(d).encode()).hexdigest()


def public_value(stem):
    with open(stem + ".pub", "rb") as f:
        pub = serialization.load_pem_public_key(f.read())
    if KEYS[stem][0] == "ed25519":
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return raw.hex()
    return pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def private_keydict(stem, kid):
    keytype, scheme = KEYS[stem]
    with open(stem + ".key", "rb") as f:
        pem = f.read()
    if keytype == "ed25519":
        priv = serialization.load_pem_private_key(pem, password=None)
        seed = priv.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        d = {"keytype": keytype, "scheme": scheme, "keyid": kid,
             "keyval": {"public": public_value(stem), "private": seed.hex()}}
    elif keytype == "ecdsa":
        d = keys.import_ecdsakey_from_private_pem(pem.decode(), scheme=scheme)
    else:
        d = keys.import_rsakey_from_private_pem(pem.decode(), scheme=scheme)
    d["keyid"] = kid
    return d


def main():
    ids = {}
    payload = json.dumps(STATEMENT, sort_keys=True).encode()
    signatures = []
    for stem, (keytype, scheme) in KEYS.items():
        public = public_value(stem)
        tuf = {"keytype": keytype, "scheme": scheme, "keyval": {"public": public}}
        # Classic securesystemslib strips the PEM and adds keyid_hash_algorithms.
        classic = {
            "keytype": keytype,
            "scheme": scheme,
            "keyid_hash_algorithms": ["sha256", "sha512"],
            "keyval": {"public": public.strip()},
        }
        if keytype == "ecdsa":
            lib = keys.import_ecdsakey_from_public_pem(public, scheme=scheme)
            assert lib["keyval"]["public"] == classic["keyval"]["public"]
        ids[stem] = {"tuf": keyid(tuf), "legacy": keyid(classic)}
        classic["keyid"] = ids[stem]["legacy"]
        with open(stem + ".tuf.json", "w") as f:
            json.dump(tuf, f, indent=2, sort_keys=True)
            f.write("\n")
        with open(stem + ".sslib.json", "w") as f:
            json.dump(classic, f, indent=2, sort_keys=True)
            f.write("\n")

        kd = private_keydict(stem, ids[stem]["tuf"])
        if scheme == "ecdsa-sha2-nistp384":
            # securesystemslib 0.26 verifies nistp384 but only signs nistp256:
            # sign with pyca/cryptography, verify with securesystemslib below.
            with open(stem + ".key", "rb") as f:
                priv = serialization.load_pem_private_key(f.read(), password=None)
            der = priv.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA384()))
            sig = {"keyid": kd["keyid"], "sig": der.hex()}
        else:
            sig = keys.create_signature(kd, pae(PAYLOAD_TYPE, payload))
        assert keys.verify_signature(kd, sig, pae(PAYLOAD_TYPE, payload))
        entry = {"keyid": sig["keyid"],
                 "sig": base64.b64encode(bytes.fromhex(sig["sig"])).decode()}
        signatures.append(entry)
        env = {"payloadType": PAYLOAD_TYPE,
               "payload": base64.b64encode(payload).decode(),
               "signatures": [entry]}
        with open("python-" + stem + ".dsse.json", "w") as f:
            json.dump(env, f, indent=2)
            f.write("\n")

    env = {"payloadType": PAYLOAD_TYPE,
           "payload": base64.b64encode(payload).decode(),
           "signatures": signatures}
    with open("python-all.dsse.json", "w") as f:
        json.dump(env, f, indent=2)
        f.write("\n")
    with open("keyids.json", "w") as f:
        json.dump(ids, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
