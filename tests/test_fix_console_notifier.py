"""The console notifier (what `make run` prints instead of sending): one message, one intact labelled block,
however many threads deliver at once."""

import os
import threading

from oncallbot.adapters.console_notifier import LABEL, ConsoleNotifier

THREADS, MESSAGES = 8, 40


class Terminal:
    """Shows what is written, in the order written. Each write gives the other threads their turn, as a slow
    terminal or a pipe under load does."""

    def __init__(self):
        self.chunks: list[str] = []

    def write(self, chunk: str) -> int:
        self.chunks.append(chunk)
        os.sched_yield()  # releases the GIL: another writer may run now
        return len(chunk)

    def flush(self) -> None:
        os.sched_yield()

    def text(self) -> str:
        return "".join(self.chunks)


def blocks(text: str) -> list[list[str]]:
    """A block is a labelled line and the indented lines under it."""
    result: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith(LABEL):
            result.append([line])
        else:
            assert result and line.startswith("  "), f"a line outside any block: {line!r}"
            result[-1].append(line)
    return result


def message(writer: int, index: int) -> str:
    return f"Page #{writer}-{index}: Voicemail from ACME\nOn It! due by 02:15\n\nReply 1 or press 1"


def test_messages_from_many_threads_come_out_as_whole_blocks():
    terminal = Terminal()
    notifier = ConsoleNotifier(terminal)
    start = threading.Barrier(THREADS)

    def deliver(writer: int) -> None:
        start.wait()
        for index in range(MESSAGES):
            notifier.send("sms", f"Person {writer}", message(writer, index))

    threads = [threading.Thread(target=deliver, args=(writer,)) for writer in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    output = terminal.text()
    assert output.endswith("\n")
    expected = {(writer, index) for writer in range(THREADS) for index in range(MESSAGES)}
    seen = set()
    for block in blocks(output):
        header, *body = block
        writer = int(header.removeprefix(f"{LABEL} sms to Person ").removesuffix(":"))
        index = int(body[0].split("-")[1].split(":")[0])
        assert block == [f"{LABEL} sms to Person {writer}:",
                         *(f"  {line}" for line in message(writer, index).split("\n"))], block
        seen.add((writer, index))
    assert seen == expected


def test_a_block_masks_contact_details():
    terminal = Terminal()
    ConsoleNotifier(terminal).send("sms", "+14155550123", "Call back +14155550188 or kelly@example.com")
    assert terminal.text() == (f"{LABEL} sms to +***23:\n"
                               "  Call back +***88 or k***@example.com\n")
