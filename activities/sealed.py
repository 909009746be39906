"""Bytes for the treasury store sealed with the worker's payload codec (architecture invariant
9): a reservation or a payment file names creditors' accounts, and once it lives in the store
rather than in history it must be just as unreadable without the key. The codec encrypts what
carries bank details (`<IBAN>`, `"creditor_iban"`) and keeps key rotation: an old key id still
opens what it sealed."""

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

_PLAIN = {"encoding": b"binary/plain"}


async def seal(codec: PayloadCodec | None, data: bytes) -> bytes:
    payload = Payload(metadata=_PLAIN, data=data)
    if codec is not None:
        [payload] = await codec.encode([payload])
    return payload.SerializeToString()


async def unseal(codec: PayloadCodec | None, blob: bytes) -> bytes:
    payload = Payload.FromString(blob)
    if codec is not None:
        [payload] = await codec.decode([payload])
    elif payload.metadata.get("encoding") != _PLAIN["encoding"]:
        raise ValueError("sealed with a payload codec, and this worker has none configured")
    return payload.data
