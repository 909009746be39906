"""A worker process for stand-in lifecycles (tests/stand_in_lifecycle.py), so thousands of them
do not share the test process's interpreter lock with the payment run's worker.

    python -m tests.stand_in_worker <temporal address> <task queue> <max cached>

The codec key comes from FINSYNC_CODEC_KEY, as for the worker. Stops on SIGTERM."""

import asyncio
import signal
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from codec.bank_details import data_converter, load_codec
from settings import Settings
from tests.stand_in_lifecycle import StandInLifecycle


async def main(address: str, task_queue: str, cached: int) -> None:
    client = await Client.connect(address, data_converter=data_converter(load_codec(Settings())))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    # All of them cached (an evicted one is replayed for each update and signal), and more
    # pollers than the default 5, which fetch tasks slower than the dev server hands them out.
    async with Worker(client, task_queue=task_queue, workflows=[StandInLifecycle], max_cached_workflows=cached,
                      max_concurrent_workflow_task_polls=20):
        print("ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    from cli.process_exit import run_main

    run_main(lambda: asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
