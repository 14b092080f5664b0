"""Transport: the kubernetes_asyncio ``ApiClient`` subclass (session, proxy, TLS errors, the
bearer header and 401 retry), request retries and the raw REST helper."""
