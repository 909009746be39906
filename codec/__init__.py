"""Temporal payload codecs: keep bank details out of plain-text workflow history."""

from codec.bank_details import (
    BankDetailsCodec,
    CodecKeyError,
    CodecKeyMissing,
    data_converter,
    generate_key_file,
    load_codec,
)

__all__ = ["BankDetailsCodec", "CodecKeyError", "CodecKeyMissing", "data_converter", "generate_key_file", "load_codec"]
