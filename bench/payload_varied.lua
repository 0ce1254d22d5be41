-- wrk script: POST a different 452-byte JSON webhook body with every request (an Appery-shaped
-- build event whose project guid carries the thread's and the request's number), so that no
-- server can answer from what it saw before. Used by bench/peers.py.
local counter = 0
local thread_id = 0
local template = '{"project":{"guid":"%s","name":"My project","description":"My one and only project for testing hooks","created_at":"2013-11-27T05:08:26-08:00","edited_at":"2013-11-29T08:26:46-08:00","owner":{"name":"My Name","email":"me@example.com"}},"build":{"started_at":"2013-11-30T05:07:26-08:00","finished_at":"2013-11-30T05:08:06-08:00","status":"failed","platform":"ios","file_url":null,"initiator":{"name":"My Name","email":"me@example.com"}}}'
local headers = {["Content-Type"] = "application/json", ["User-Agent"] = "bench"}
local threads = 0

setup = function(thread)
  thread:set("thread_id", threads)
  threads = threads + 1
end

request = function()
  counter = counter + 1
  -- a uuid-shaped guid of the same length every time: 36 characters
  local guid = string.format("%08x-e8ce-46ac-a111-%012x", thread_id, counter)
  return wrk.format("POST", nil, headers, string.format(template, guid))
end
