"""The bridge as a program: the command line's set-up check (`--check`), the HTTP side
(/metrics, /health), the zeroconf announcement, the container's health check and the memory
report. It owns nothing the server needs at run time and may import every other subpackage;
none imports it. (`wyoming_truebar.__main__` wires it all together.)
"""
