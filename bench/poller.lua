-- A poller: before each request, wait a random 0.5-1.5 s (one poll a second on
-- average), so that the connections' requests do not arrive in lockstep.
function delay()
  return math.random(500, 1500)
end
