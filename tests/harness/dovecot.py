"""A real IMAP server for the mailbox tests: Dovecot (Debian's dovecot-imapd) with a throwaway configuration and
maildir in a temporary folder, listening on a free loopback port, run as the current user (as root: its
unprivileged `dovecot`/`dovenull` users, since Dovecot refuses to serve mail or logins as root). No system
service is touched. Mail arrives the way a mail server would put it there: IMAP APPEND into the folder."""

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from imapclient import IMAPClient

DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
USER, PASSWORD = "support@example.test", "mailbox-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _users() -> tuple[str, str, str, int, int]:
    """(internal user, its group, login user, mail uid, mail gid)."""
    if os.getuid() != 0:
        me, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
        return me, group, me, os.getuid(), os.getgid()
    internal = pwd.getpwnam("dovecot")
    return "dovecot", grp.getgrgid(internal.pw_gid).gr_name, "dovenull", internal.pw_uid, internal.pw_gid


class Dovecot:
    def __init__(self, root: Path, port: int | None = None):
        self.root = root
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        root.mkdir(parents=True, exist_ok=True)
        os.chmod(root, 0o755)  # the unprivileged login process must reach its sockets
        internal, group, login, uid, gid = _users()
        (root / "mail").mkdir(exist_ok=True)
        (root / "base" / "state").mkdir(parents=True, exist_ok=True)
        os.chown(root / "mail", uid, gid)
        (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        (root / "dovecot.conf").write_text(f"""
base_dir = {root}/base
state_dir = {root}/base/state
log_path = {root}/dovecot.log
protocols = imap
shutdown_clients = yes
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
mail_location = maildir:{root}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""")

    def start(self, timeout: float = 15.0) -> "Dovecot":
        (self.root / "base" / "master.pid").unlink(missing_ok=True)
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # waiting for the server to listen, not for time to pass
            if self.process.poll() is not None:
                raise AssertionError(f"dovecot exited with {self.process.returncode}:\n{self.log()}")
            try:
                with self.client():
                    return self
            except OSError:
                try:
                    self.process.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    pass
        log = self.log()
        self.stop()  # never leave a server behind that no test will stop
        raise AssertionError(f"dovecot did not answer on port {self.port}:\n{log}")

    def stop(self) -> None:
        if self.process is None:
            return
        # The whole process group: the master and every imap process serving a client (a restart drops them).
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def client(self) -> IMAPClient:
        client = IMAPClient("127.0.0.1", self.port, ssl=False, timeout=5)
        client.login(USER, PASSWORD)
        return client

    def deliver(self, raw: bytes, folder: str = "INBOX") -> int:
        """Put a message into the folder (IMAP APPEND, as a delivery agent would); returns its UID."""
        with self.client() as client:
            response = client.append(folder, raw)
        # "[APPENDUID <uidvalidity> <uid>] Append completed."
        return int(response.split(b"]")[0].split()[-1])

    def count(self, folder: str = "INBOX") -> int:
        with self.client() as client:
            return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def recreate_folder(self, folder: str) -> None:
        """Delete and create the folder again: a new UIDVALIDITY, every message numbered anew."""
        with self.client() as client:
            client.delete_folder(folder)
            client.create_folder(folder)
