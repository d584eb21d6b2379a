"""The `herald` command: the daemon's entry points and the HTTP client the campaign commands use."""
