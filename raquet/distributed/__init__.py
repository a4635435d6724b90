"""Several jump hosts, one sweep: Celery workers per network segment on one shared store.

    raquet sweep --distributed            raquet worker --segment td-lan   (jump host in td-lan)
      begin_sweep (plan with segments)      consumes queue raquet.td-lan (gevent pool)
      one task per host -> raquet.<segment>    -> the worker's own inventory entry (keys,
      follows results in the store                known_hosts, password env), the sweep's
      (progress, summary, --json, exit)           stored policy and options
                                                 -> the same per-host sweep as a local one
                                                 -> ResultWriter commit, then ack

A task carries only the sweep id and the host's name and unit: no policy, no address, no
secret crosses the broker. Acknowledged late (after the result is committed) and
rejected when its worker dies, a task is delivered again to another worker of the
segment (or the same one, restarted); the store's write of a (sweep, host) is one row
whoever writes it, and a worker skips a host whose result is already in.
"""
