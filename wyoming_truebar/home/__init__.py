"""The home's sentences and names: Home Assistant's own sentence data (hassil and
home-assistant-intents), the names read from Home Assistant's API, and the completeness check
the endpointer asks whether a running text is a whole command. It owns what leaves no home
(the names stay here) and may import `ending` (its verdicts), `truebar` (the network helpers)
and `config`.
"""
