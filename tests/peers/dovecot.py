"""A real IMAP server on loopback: Debian's Dovecot with a passwd-file user and a maildir in a temp folder.

Implicit TLS (imaps) with a self-signed certificate, as a mail provider serves it, and the password as the
app password. Messages arrive with IMAP APPEND, as a mail delivery agent would file them. Dovecot's login
processes refuse to run as root: they run as ``dovenull`` (the package's user) and the mailbox belongs to
``nobody``, so the folder is made outside pytest's root-only temp tree.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.peers.ports import free_port, need, running
from tests.peers.smtp import TlsFiles, make_self_signed

USER = "pagerbot@acme.example"
PASSWORD = "app-password-1234"
MAILBOX = "INBOX"


@dataclass
class ImapPeer:
    host: str
    port: int
    tls: TlsFiles
    directory: Path

    def client(self) -> imaplib.IMAP4_SSL:
        client = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=self.tls.client_context(), timeout=10)
        client.login(USER, PASSWORD)
        return client

    def deliver(self, raw: bytes) -> None:
        """File one message in the inbox, unread."""
        client = self.client()
        try:
            status, _ = client.append(MAILBOX, "", imaplib.Time2Internaldate(time.time()), raw)
            assert status == "OK", status
        finally:
            client.logout()

    def flags(self) -> list[bytes]:
        """Each message's flags, in UID order (pagerbot reads without marking anything seen)."""
        client = self.client()
        try:
            client.select(MAILBOX, readonly=True)
            _, data = client.uid("FETCH", "1:*", "(FLAGS)")
            return [item for item in data if isinstance(item, bytes)]
        finally:
            client.logout()


def _config(directory: Path, port: int, tls: TlsFiles, mail_uid: int, mail_gid: int) -> str:
    return f"""
base_dir = {directory}/run
state_dir = {directory}/state
log_path = /dev/stderr
protocols = imap
listen = 127.0.0.1
default_login_user = dovenull
default_internal_user = dovecot
ssl = required
ssl_cert = <{tls.cert}
ssl_key = <{tls.key}
auth_mechanisms = plain login
mail_location = maildir:{directory}/mail/%u
first_valid_uid = {mail_uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {directory}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={directory}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def imap_server() -> Iterator[ImapPeer]:
    dovecot = need("dovecot")
    directory = Path(tempfile.mkdtemp(prefix="pagerbot-imap-"))
    try:
        os.chmod(directory, 0o755)
        nobody = pwd.getpwnam("nobody")
        (directory / "mail").mkdir()
        os.chown(directory / "mail", nobody.pw_uid, nobody.pw_gid)
        (directory / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n", encoding="utf-8")
        tls = make_self_signed(directory)
        os.chmod(tls.key, 0o600)
        port = free_port()
        conf = directory / "dovecot.conf"
        conf.write_text(_config(directory, port, tls, nobody.pw_uid, nobody.pw_gid), encoding="utf-8")
        with running([dovecot, "-F", "-c", str(conf)], directory / "dovecot.log", lambda: _accepts(port),
                     what="dovecot"):
            yield ImapPeer("127.0.0.1", port, tls, directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
