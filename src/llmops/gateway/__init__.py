"""The OpenAI-compatible gateway: routes from public model names to registered model
versions or upstream providers, engines that answer, and a trace for every request."""
