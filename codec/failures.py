"""Failures as finsync writes them into history: message and stack trace in an encoded-attributes
payload (so the codec sees them, codec/bank_details.py), and small enough that the server keeps
them.

Why small: while an activity retries, the server keeps its last failure only up to a size limit
(4 KB by default); past it, it keeps "Failure exceeds size limit." instead, and that is what the
workflow receives when the round's schedule-to-close ends. An outage case (workflows/
counterpart_calls.py) then says nothing about what failed. An httpx connection error wrapped by
an adapter and by an activity, each level with its full stack trace, was ~4.8 KB.

So every level keeps its type and message, the outermost keeps the innermost frames of its stack
trace (where it was raised), and causes keep none. The whole trace is in the worker's log, which
the SDK writes for every failed attempt."""

from temporalio.api.failure.v1 import Failure
from temporalio.converter import (
    DefaultFailureConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadConverter,
)

STACK_TRACE_CHARS = 800  # the outermost failure's last frames: two or three
_PLAIN = DefaultFailureConverter()  # builds the failure; the levels are encoded below


class BoundedFailureConverter(DefaultFailureConverterWithEncodedAttributes):
    def to_failure(self, exception: BaseException, payload_converter: PayloadConverter, failure: Failure) -> None:
        _PLAIN.to_failure(exception, payload_converter, failure)
        level, outermost = failure, True
        while True:
            if not level.HasField("encoded_attributes"):  # a failure received from the server is as it came
                trace = level.stack_trace if outermost else ""
                if len(trace) > STACK_TRACE_CHARS:
                    trace = "...\n" + trace[-STACK_TRACE_CHARS:]
                level.encoded_attributes.CopyFrom(
                    payload_converter.to_payloads([{"message": level.message, "stack_trace": trace}])[0])
                level.message, level.stack_trace = "Encoded failure", ""
            if not level.HasField("cause"):
                return
            level, outermost = level.cause, False
