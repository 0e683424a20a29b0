"""SFTP (paramiko, through fsspec's SFTPFileSystem), with host keys checked against known_hosts.

fsspec's SFTPFileSystem accepts any host key by default (AutoAddPolicy) and never loads a
known_hosts file; here the server's key must be in ``options.known_hosts`` (default
``~/.ssh/known_hosts``) or the connection is refused. No native checksums: bytes must be read.

The class is instantiated directly, never through fsspec's registry, because installing
`sshfs` (asyncssh) takes over the ``sftp://`` protocol there.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

import paramiko
from fsspec.implementations.sftp import SFTPFileSystem
from fsspec.spec import AbstractFileSystem

from verifier import redact
from verifier.backends.base import Backend
from verifier.errors import StoreError
from verifier.settings import Destination

DEFAULT_TIMEOUT = 10.0
DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


class HostKeyError(paramiko.SSHException):
    """The server's host key is not in known_hosts, or differs from the one recorded there."""


class _RejectUnknown(paramiko.MissingHostKeyPolicy):
    def __init__(self, known_hosts: str, port: int) -> None:
        self.known_hosts = known_hosts
        self.port = port

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        host = hostname.split("]")[0].lstrip("[")
        where = self.known_hosts if os.path.exists(self.known_hosts) else f"{self.known_hosts} (no such file)"
        raise HostKeyError(
            f"the host key of {hostname} ({key.get_name()} {key.fingerprint}) is not in {where}; "
            f"if you trust it, add it with: ssh-keyscan -p {self.port} {host} >> {self.known_hosts}"
        )


class CheckedSFTPFileSystem(SFTPFileSystem):
    """fsspec's paramiko SFTP filesystem, loading known_hosts and refusing unknown or changed keys."""

    def __init__(self, host: str, known_hosts: str, **ssh_kwargs: Any) -> None:
        self.known_hosts = known_hosts
        self._local = threading.local()
        super().__init__(host, **ssh_kwargs)

    # paramiko's SFTPClient must not be shared between threads (concurrent requests steal each
    # other's replies), so each thread gets its own SFTP channel on the one SSH connection. A
    # channel closes when its thread ends. sshd allows 10 per connection (MaxSessions).
    @property
    def ftp(self) -> paramiko.SFTPClient:
        sftp: paramiko.SFTPClient | None = getattr(self._local, "ftp", None)
        if sftp is None or sftp.sock.closed:
            try:
                sftp = self.client.open_sftp()
            except paramiko.ChannelException as exc:
                raise ConnectionRefusedError(
                    f"the server refused another SFTP session ({exc}); lower --jobs below its limit "
                    "(sshd: MaxSessions, 10 by default)"
                ) from None
            self._set_channel_timeout(sftp)
            self._local.ftp = sftp
        return sftp

    @ftp.setter
    def ftp(self, value: paramiko.SFTPClient) -> None:
        self._local.ftp = value

    def _set_channel_timeout(self, sftp: paramiko.SFTPClient) -> None:
        channel = sftp.get_channel()
        timeout = self.ssh_kwargs.get("timeout")
        if channel is not None and timeout:
            channel.settimeout(float(timeout) * 3)  # a stalled server must not hang a read forever

    def _connect(self) -> None:
        port = int(self.ssh_kwargs.get("port", 22))
        client = paramiko.SSHClient()
        if os.path.exists(self.known_hosts):
            client.load_host_keys(self.known_hosts)
        client.set_missing_host_key_policy(_RejectUnknown(self.known_hosts, port))
        try:
            client.connect(self.host, **self.ssh_kwargs)
        except paramiko.BadHostKeyException as exc:
            client.close()
            name = self.host if port == 22 else f"[{self.host}]:{port}"
            raise HostKeyError(
                f"the host key of {name} ({exc.key.get_name()} {exc.key.fingerprint}) differs from the one in "
                f"{self.known_hosts} ({exc.expected_key.fingerprint}): the server was re-keyed, or someone is "
                f"in the middle. Verify it with the server's administrator, then replace its line: "
                f"ssh-keygen -R '{name}' -f {self.known_hosts}; ssh-keyscan -p {port} {self.host} >> "
                f"{self.known_hosts}"
            ) from None
        except BaseException:
            client.close()
            raise
        self.client = client
        sftp = client.open_sftp()  # now, so that a refusal shows up at connect time
        self._set_channel_timeout(sftp)
        self.ftp = sftp

    def ls(self, path: str, detail: bool = False, **kwargs: Any) -> Any:  # accepts refresh=
        return super().ls(path, detail=detail)


def _parse(url: str) -> tuple[str | None, str, int, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("sftp", "ssh") or not parts.hostname:
        raise ValueError(f"{redact.strip_url(url)!r}: use sftp://user@host:port/path")
    if parts.password:
        raise ValueError("put the password in secrets.password, not in the url")
    return (
        unquote(parts.username) if parts.username else None,
        parts.hostname,
        parts.port or 22,
        "/" + unquote(parts.path).strip("/"),
    )


class SFTPBackend(Backend):
    type = "sftp"
    default_jobs = 2  # one SSH connection; requests are serialised on its channel anyway

    @classmethod
    def validate(cls, dest: Destination) -> None:
        if not dest.url:
            raise ValueError("required: sftp://user@host:port/path")
        _parse(dest.url)
        unknown = set(dest.secrets) - {"password", "key_filename", "passphrase"}
        if unknown:
            raise ValueError(f"unknown secret {sorted(unknown)[0]!r}; use password, key_filename, passphrase")

    def make_filesystem(self) -> AbstractFileSystem:
        assert self.dest.url
        user, host, port, _ = _parse(self.dest.url)
        opts = dict(self.dest.options)
        known_hosts = os.path.expanduser(str(opts.pop("known_hosts", DEFAULT_KNOWN_HOSTS)))
        timeout = float(opts.pop("timeout", DEFAULT_TIMEOUT))
        kwargs: dict[str, Any] = {
            "port": port,
            "timeout": timeout,
            "banner_timeout": timeout,
            "auth_timeout": timeout,
            "channel_timeout": timeout,
        }
        if user:
            kwargs["username"] = user
        if self.dest.secrets:
            # explicit credentials: do not also try ~/.ssh keys or an agent
            kwargs.update(allow_agent=False, look_for_keys=False)
        kwargs.update(opts)
        kwargs.update(self.dest.secrets)
        return CheckedSFTPFileSystem(host, known_hosts=known_hosts, skip_instance_cache=True, **kwargs)

    def root(self) -> str:
        assert self.dest.url
        return _parse(self.dest.url)[3]

    def uri(self, path: str) -> str:
        assert self.dest.url
        user, host, port, _ = _parse(self.dest.url)
        who = f"{user}@" if user else ""
        return f"sftp://{who}{host}:{port}/{path.lstrip('/')}"

    def display_url(self) -> str:
        return self.uri(self.root())

    def classify(self, exc: BaseException) -> StoreError:
        where = f"sftp {self.display_url()}"

        def err(msg: str, transient: bool) -> StoreError:
            return StoreError(redact.scrub(f"{where}: {msg}"), transient=transient)

        if isinstance(exc, HostKeyError):
            return err(f"host key refused: {exc}", False)
        if isinstance(exc, paramiko.AuthenticationException):
            return err(
                "authentication failed: check the user in the url and secrets.password or "
                "secrets.key_filename (+ passphrase)",
                False,
            )
        if isinstance(exc, paramiko.PasswordRequiredException):
            return err("the private key is encrypted: set secrets.passphrase", False)
        if isinstance(
            exc,
            paramiko.ssh_exception.NoValidConnectionsError | socket.timeout | TimeoutError | ConnectionError | EOFError,
        ):
            return err(f"cannot reach the server ({type(exc).__name__}: {exc}); check host and port, then retry", True)
        if isinstance(exc, PermissionError):
            return err(f"permission denied: the user may not read this path [{exc}]", False)
        if isinstance(exc, FileNotFoundError):
            return err(f"not found: check the path in the url [{exc}]", False)
        if isinstance(exc, paramiko.SSHException):
            return err(f"SSH failure ({exc}); retry later", True)
        if isinstance(exc, socket.gaierror):
            return err(f"unknown host ({exc}); check the url", False)
        return super().classify(exc)
