"""``digest bench --smtp`` end to end, against aiosmtpd on loopback (no Postfix needed).

The real figures come from Postfix's smtp-sink; here the point is that the bench sends every message
through the real send (kept-open connections), then the naive sample on one connection each, and prints
its table.
"""

from collections import Counter
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from digest.devtools import bench_smtp
from tests.support.cli import Digest
from tests.support.smtp import Recorder, free_port

MESSAGES, NAIVE, CONNECTIONS = 40, 6, 2


@pytest.fixture
def server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield recorder, controller.port
    controller.stop()


def test_the_smtp_bench_sends_every_message_and_prints_its_table(
    digest: Digest, database_url: str, server: tuple[Recorder, int]
) -> None:
    recorder, port = server
    result = digest(
        "bench",
        "--smtp",
        f"127.0.0.1:{port}",
        "--messages",
        str(MESSAGES),
        "--naive",
        str(NAIVE),
        "--concurrency",
        str(CONNECTIONS),
        "--batch-size",
        "15",
        "--database",
        database_url,
    )

    lines = result.stdout.splitlines()
    assert lines[0].startswith("| server | database | messages | connections | send time | messages/s |")
    assert lines[1].startswith("|---|")
    cells = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert cells[:4] == [f"127.0.0.1:{port}", database_url.partition(":")[0].partition("+")[0], "40", "2"]
    assert cells[-1].endswith("x")
    assert float(cells[5].replace(",", "")) > 0  # messages/s
    assert float(cells[7].replace(",", "")) > 0  # naive messages/s

    # Every subscriber got the issue once; the first NAIVE got the naive copy as well.
    readers = [f"reader{n}@bench.example.org" for n in range(MESSAGES)]
    assert recorder.recipients() == Counter(readers) + Counter(readers[:NAIVE])
    naive = [m for m in recorder.received if str(m.message["Message-ID"]).startswith("<naive.")]
    sent = [m for m in recorder.received if str(m.message["Message-ID"]).startswith("<digest.")]
    assert len(sent) == MESSAGES
    assert all(str(m.message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click" for m in sent)
    # The send kept its connections open across all three batches; the naive way opened one per message.
    assert len({m.peer for m in sent}) == CONNECTIONS
    assert len({m.peer for m in naive}) == NAIVE
    assert recorder.ehlos == recorder.quits == CONNECTIONS + NAIVE


def test_without_smtp_sink_the_bench_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench_smtp, "find_sink", lambda: None)
    result = Digest({})("bench", "--smtp", "sink", "--messages", "5", ok=False)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [f"error: {bench_smtp.INSTALL_SINK}"]
    assert "apt-get install postfix" in result.stderr


def test_the_bench_says_when_nothing_listens_at_the_address() -> None:
    port = free_port()
    result = Digest({})("bench", "--smtp", f"127.0.0.1:{port}", "--messages", "5", ok=False)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: nothing answers at 127.0.0.1:{port}: start smtp-sink there "
        f"(smtp-sink -u postfix 127.0.0.1:{port} 1000) or pass --smtp sink to have the bench start one"
    ]
