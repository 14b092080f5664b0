"""EKS tokens: the kubeconfig intent (``config``), the AWS client pool (``aws``) and the
in-process signer with ``get_token`` (``native``). The public face is ``kom_async.eks``."""
