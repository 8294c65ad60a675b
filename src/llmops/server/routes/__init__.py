"""HTTP routes, one module per resource; each route declares its permission."""
