"""Components of the simulated world. None of them knows which pattern uses it."""

from .client import Client, Connection
from .codec import DEFAULT_ENCODINGS, Encoding
from .link import Link, Pipe
from .server import Server

__all__ = ["DEFAULT_ENCODINGS", "Client", "Connection", "Encoding", "Link", "Pipe", "Server"]
