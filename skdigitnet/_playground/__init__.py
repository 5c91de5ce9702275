"""The playground: a web page to draw a digit and watch the network read it, learn,
and be fooled; its server and JSON API."""
