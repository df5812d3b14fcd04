"""Components of the simulated world. None of them knows which pattern uses it."""

from .client import Client
from .codec import DEFAULT_ENCODINGS, Encoding
from .connection import Connection
from .feed import UpdateFeed
from .link import Link, Pipe
from .path import Hop, Path, Trip
from .pool import Pool
from .proxy import Proxy
from .server import Server
from .setup import Setup

__all__ = ["DEFAULT_ENCODINGS", "Client", "Connection", "Encoding", "Hop", "Link", "Path",
           "Pipe", "Pool", "Proxy", "Server", "Setup", "Trip", "UpdateFeed"]
