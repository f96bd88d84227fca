"""Test helpers: token server, fault-injecting proxy, skopeo wrappers."""
