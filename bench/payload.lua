-- wrk script: POST a 452-byte JSON webhook body (an Appery-shaped build event)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "bench"
wrk.body = '{"project":{"guid":"372f4a93-e8ce-46ac-a111-44b6c3f476f4","name":"My project","description":"My one and only project for testing hooks","created_at":"2013-11-27T05:08:26-08:00","edited_at":"2013-11-29T08:26:46-08:00","owner":{"name":"My Name","email":"me@example.com"}},"build":{"started_at":"2013-11-30T05:07:26-08:00","finished_at":"2013-11-30T05:08:06-08:00","status":"failed","platform":"ios","file_url":null,"initiator":{"name":"My Name","email":"me@example.com"}}}'
