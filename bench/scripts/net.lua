-- The calog side of the network bench (bench/net.ts), loaded into every threaded Lua context it uses.
-- Blocking calls park only their own context; the epoll thread of the runtime wakes it.

-- ---- echo server: a listener context accepts and hands each connection to a worker context ----
conns = {}

-- listener: accepts n connections and gives them out round-robin to the workers' adopt functions
function hand(n, adopters)
  for i = 1, n do
    local c = assert(server:accept({ timeoutMs = 10000 }))
    adopters[(i - 1) % #adopters + 1](c)
  end
  return n
end

-- worker: keeps a connection (called by the listener's hand, from the listener's thread)
function adopt(c)
  conns[#conns + 1] = c
  return #conns
end

-- worker: echoes 1-byte messages on its connections, round-robin, until each peer closes; returns the bytes echoed.
-- Every client of the bench sends one byte and waits for it to come back, so a worker that waits on one
-- connection at a time delays nobody.
function serve()
  local n = 0
  while #conns > 0 do
    local i = 1
    while i <= #conns do
      local c = conns[i]
      local b = c:receive(1)
      if b then
        assert(c:send(b))
        n = n + 1
        i = i + 1
      else
        c:close()
        table.remove(conns, i)
      end
    end
  end
  return n
end

-- ---- ping client: this context's connections each send one byte and wait for it, k times ----
function open(port, n)
  for i = 1, n do conns[i] = assert(net.connect("127.0.0.1", port, { timeoutMs = 10000 })) end
  return #conns
end

function ping(k)
  local cs = conns
  for _ = 1, k do
    for i = 1, #cs do assert(cs[i]:send("x")) end
    for i = 1, #cs do assert(cs[i]:receive(1)) end
  end
  return k * #cs
end

function closeAll()
  for i = 1, #conns do conns[i]:close() end
  conns = {}
end

-- ---- bulk: to a sink ("N\n" then N bytes; it answers with its count) and from a source ("N\n": N bytes come) ----
CHUNK = string.rep("x", 1 << 20)

function pumpOut(port, total)
  local c = assert(net.connect("127.0.0.1", port, { timeoutMs = 10000 }))
  assert(c:send(total .. "\n"))
  for _ = 1, total // #CHUNK do assert(c:send(CHUNK)) end
  local rest = total % #CHUNK
  if rest > 0 then assert(c:send(CHUNK:sub(1, rest))) end
  local ack = assert(c:receive("*l"))
  c:close()
  return tonumber(ack)
end

function pumpIn(port, total)
  local c = assert(net.connect("127.0.0.1", port, { timeoutMs = 10000 }))
  assert(c:send(total .. "\n"))
  local got = 0
  while got < total do
    local s = assert(c:receive(math.min(#CHUNK, total - got)))
    got = got + #s
  end
  c:close()
  return got
end
