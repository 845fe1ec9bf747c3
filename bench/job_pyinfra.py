# The benchmark job for pyinfra: the same four read-only commands as job.yml,
# one operation each (pyinfra's `server.shell` is its `command`).
from pyinfra.operations import server

server.shell(name="hostname", commands=["hostname"])
server.shell(name="kernel", commands=["uname -r"])
server.shell(name="load", commands=["cat /proc/loadavg"])
server.shell(name="loopback addresses", commands=["ip -4 -o addr show lo"])
