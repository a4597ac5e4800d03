"""wallet's REST API: the driver app's API under /api/v1/app/ and the operators' wallet API
under /api/v1/, one module per sub-domain, routed by wallet.urls."""
