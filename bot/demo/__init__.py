"""The offline demo's sample news site: a fake WordPress 6.1 served on localhost.

- :mod:`bot.demo.site`: ``SampleSite`` (the server, its mutation API, fault injection and
  request log), ``SampleSiteProcess`` and ``python -m bot.demo.site``.
- :mod:`bot.demo.articles`: ``SampleArticle`` and ``load_sample_articles()`` (``articles.json``).
- :mod:`bot.demo.wordpress`: the WordPress markup, as pure functions.
- :mod:`bot.demo.images`: generated JPEG/PNG pictures for ``/wp-content/uploads/``.

Nothing is imported here, so ``python -m bot.demo.site`` runs without a double import.
"""
