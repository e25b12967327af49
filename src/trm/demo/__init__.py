"""The demo federation (``make demo``): fictional organisations and users on
every node (:mod:`trm.demo.seed`, ``trm demo seed``) and the launcher that
runs several national nodes side by side (:mod:`trm.demo.federation`,
``python -m trm.demo up``)."""
