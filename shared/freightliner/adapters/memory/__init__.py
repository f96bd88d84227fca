"""In-memory adapters: ports served without a network, for in-process tests."""
