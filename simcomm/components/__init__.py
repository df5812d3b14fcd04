"""Components of the simulated world. None of them knows which pattern uses it."""

from .client import Client
from .codec import DEFAULT_ENCODINGS, Encoding
from .connection import Connection
from .link import Link, Pipe
from .path import Hop, Path, Trip
from .server import Server

__all__ = ["DEFAULT_ENCODINGS", "Client", "Connection", "Encoding", "Hop", "Link", "Path",
           "Pipe", "Server", "Trip"]
