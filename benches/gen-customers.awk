# Writes N realistic customer rows as a spreadsheet export has them, for the end-to-end benchmark
# (benches/e2e.sh). Deterministic: the same N and SEED give the same bytes with any awk (the
# generator is MINSTD, exact in the doubles awk computes with).
#
#   awk -v N=100000 -v SEED=42 -v INVALID=0.05 -v DUPLICATE=0.01 -f benches/gen-customers.awk > customers.csv
#
# About INVALID of the rows break one rule each (a company PAN, a mobile Excel turned into
# 9.87654E+09, an underage customer, a digit in a name, an e-mail without a domain, an empty
# mobile), and about DUPLICATE repeat an earlier row's PAN. Dates are DD/MM/YYYY with days up to
# 28, so the file proves its day-first order and is never stopped for a mixed one. Every other
# row passes both the tool's rules and the sandbox's.

function rnd(n) {
    state = (state * 48271) % 2147483647
    return state % n
}

function letter(n) { return substr("ABCDEFGHIJKLMNOPQRSTUVWXYZ", n % 26 + 1, 1) }

# Row i's surname, a function of i alone, so that a repeat of row i can give the same one.
function surname_of(i) { return LAST[(i * 7919 + int(i / 31)) % nl + 1] }

# Row i's PAN: distinct for every i below 175 million; P (an individual) as the holder type and
# the surname's initial as the fifth letter, as the Income Tax Department issues them.
function pan_of(i,    serial, block) {
    serial = i % 9999 + 1
    block = int(i / 9999)
    return letter(int(block / 676)) letter(int(block / 26)) letter(block) "P" substr(surname_of(i), 1, 1) sprintf("%04d", serial) letter(i * 7)
}

BEGIN {
    if (N == "") N = 1000
    if (SEED == "") SEED = 42
    if (INVALID == "") INVALID = 0.05
    if (DUPLICATE == "") DUPLICATE = 0.01
    state = SEED % 2147483646 + 1
    # MINSTD starts near its seed: skip the first draws, which a small seed makes small.
    for (k = 0; k < 64; k++) rnd(2)
    nf = split("Aarav Vivaan Aditya Vihaan Arjun Sai Reyansh Krishna Ishaan Rohan Ananya Diya Aadhya Saanvi Pari Anika Navya Myra Priya Kavya Meera Lakshmi Farhan Imran Gurpreet Harjit Joseph Mary", FIRST, " ")
    nm = split("Kumar Mohan Prasad Lal Devi Rani Singh Chand Nath Raj", MIDDLE, " ")
    nl = split("Hegde Singh Banerjee Fernandes Sharma Verma Iyer Nair Reddy Gupta Patel Shah Mehta Joshi Kulkarni Desai Rao Pillai Menon Das Ghosh Mukherjee Chatterjee Bose Khan Ansari Gill Sandhu D'Souza Kapoor", LAST, " ")
    nb = split("Mumbai Delhi Lucknow Pune Chennai Kolkata Hyderabad Jaipur Kochi Indore", BRANCH, " ")
    nd = split("example.com example.in example.org mail.example.net", DOMAIN, " ")
    invalid_per_mille = int(INVALID * 1000)
    duplicate_per_mille = int(DUPLICATE * 1000)

    print "first_name,middle_name,last_name,pancard,date_of_birth,email_id,mobile_number,branch"
    for (i = 0; i < N; i++) {
        first = FIRST[rnd(nf) + 1]
        middle = rnd(4) == 0 ? MIDDLE[rnd(nm) + 1] : ""
        last = surname_of(i)
        pan = pan_of(i)
        dob = sprintf("%02d/%02d/%04d", rnd(28) + 1, rnd(12) + 1, 1950 + rnd(55))
        email = tolower(first) "." tolower(last) i "@" DOMAIN[rnd(nd) + 1]
        gsub(/'/, "", email)
        mobile = sprintf("%.0f", 6000000000 + i * 3 + rnd(3))
        branch = BRANCH[rnd(nb) + 1]

        pick = rnd(1000)
        if (pick < invalid_per_mille) {
            kind = rnd(6)
            if (kind == 0) pan = substr(pan, 1, 3) "C" substr(pan, 5)
            else if (kind == 1) mobile = "9.87654E+09"
            else if (kind == 2) dob = sprintf("%02d/%02d/%04d", rnd(28) + 1, rnd(12) + 1, 2015)
            else if (kind == 3) first = first "2"
            else if (kind == 4) email = tolower(first) i "@"
            else mobile = ""
        } else if (pick < invalid_per_mille + duplicate_per_mille && i > 0) {
            # The same customer typed in again further down (the same PAN; mobile and e-mail as typed).
            j = rnd(i)
            pan = pan_of(j)
            last = surname_of(j)
        }
        if (middle != "" && rnd(2) == 0) middle = " " middle " "
        printf "%s,%s,%s,%s,%s,%s,%s,%s\n", first, middle, last, pan, dob, email, mobile, branch
    }
}
