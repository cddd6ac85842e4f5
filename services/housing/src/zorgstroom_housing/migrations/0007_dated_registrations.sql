-- Facts about a client come on several topics in any order. The registration entered last holds (one
-- client's registrations arrive in commit order on one partition), and wishes an assessment told after that
-- registration's date outlive it: an older assessment arriving late does not override a registration's.
ALTER TABLE clients ADD COLUMN registered_on date;   -- the day of the registration applied last
ALTER TABLE clients ADD COLUMN wishes_on date;       -- the day an assessment told the wishes; NULL: the registration's
