//! Which column holds which field: the header aliases the README lists ("The customer file"),
//! explicit `--map field=Header` overrides, and the file-level errors for a missing or doubled
//! column.

use std::fmt;

use super::clean::header_key;

/// A field of the registration request that a customer file provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    FirstName,
    MiddleName,
    LastName,
    Pan,
    DateOfBirth,
    Email,
    Mobile,
    OrderId,
}

impl Field {
    pub const ALL: [Field; 8] = [
        Field::FirstName,
        Field::MiddleName,
        Field::LastName,
        Field::Pan,
        Field::DateOfBirth,
        Field::Email,
        Field::Mobile,
        Field::OrderId,
    ];

    /// The field's name in the vendor's API, which is also its canonical header.
    pub fn name(self) -> &'static str {
        match self {
            Field::FirstName => "first_name",
            Field::MiddleName => "middle_name",
            Field::LastName => "last_name",
            Field::Pan => "pancard",
            Field::DateOfBirth => "date_of_birth",
            Field::Email => "email_id",
            Field::Mobile => "mobile_number",
            Field::OrderId => "order_id",
        }
    }

    /// Other headers accepted for the field, as the README lists them.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Field::FirstName => &["first name", "firstname", "fname", "given name"],
            Field::MiddleName => &["middle name", "middlename", "mname"],
            Field::LastName => &["last name", "lastname", "surname", "lname", "family name"],
            Field::Pan => {
                &["pan", "pan no", "pan number", "pan card", "pancard no", "permanent account number"]
            }
            Field::DateOfBirth => &["dob", "d.o.b", "date of birth", "birth date", "birthdate"],
            Field::Email => &["email", "e-mail", "email id", "mail", "email address"],
            Field::Mobile => {
                &["mobile", "mobile no", "mobile number", "phone", "phone no", "contact no", "cell"]
            }
            Field::OrderId => &["order id", "reference", "ref id", "reference id"],
        }
    }

    /// Reads a field named on the command line or in the config file: its API name or any alias.
    pub fn parse(name: &str) -> Option<Field> {
        let key = header_key(name);
        Field::ALL.into_iter().find(|field| field.matches(&key))
    }

    fn matches(self, key: &str) -> bool {
        header_key(self.name()) == key || self.aliases().iter().any(|a| header_key(a) == key)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the header line cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderProblem {
    Missing(Vec<Field>),
    Doubled { field: Field, columns: Vec<String> },
    MappedNotFound { field: Field, header: String },
}

/// The header line of a file and where each field sits in it.
#[derive(Debug, Clone)]
pub struct Columns {
    headers: Vec<String>,
    index: [Option<usize>; Field::ALL.len()],
}

impl Columns {
    /// Maps `headers` to fields: explicit `map` entries first, then the aliases. Unknown columns
    /// are kept (they are carried to the output files) but mean nothing to validation.
    pub fn resolve(
        headers: Vec<String>,
        map: &[(Field, String)],
        required: &[Field],
    ) -> Result<Columns, HeaderProblem> {
        let keys: Vec<String> = headers.iter().map(|h| header_key(h)).collect();
        let mut index = [None; Field::ALL.len()];
        let mut claimed = vec![false; headers.len()];

        for (field, header) in map {
            let wanted = header_key(header);
            let found: Vec<usize> = (0..keys.len()).filter(|&i| keys[i] == wanted).collect();
            match found.as_slice() {
                [] => {
                    return Err(HeaderProblem::MappedNotFound { field: *field, header: header.clone() });
                }
                [i] => {
                    index[*field as usize] = Some(*i);
                    claimed[*i] = true;
                }
                _ => {
                    return Err(HeaderProblem::Doubled {
                        field: *field,
                        columns: found.iter().map(|&i| headers[i].clone()).collect(),
                    });
                }
            }
        }

        for field in Field::ALL {
            if index[field as usize].is_some() {
                continue;
            }
            let found: Vec<usize> =
                (0..keys.len()).filter(|&i| !claimed[i] && field.matches(&keys[i])).collect();
            match found.as_slice() {
                [] => {}
                [i] => index[field as usize] = Some(*i),
                _ => {
                    return Err(HeaderProblem::Doubled {
                        field,
                        columns: found.iter().map(|&i| headers[i].clone()).collect(),
                    });
                }
            }
        }

        let missing: Vec<Field> = required.iter().copied().filter(|f| index[*f as usize].is_none()).collect();
        if !missing.is_empty() {
            return Err(HeaderProblem::Missing(missing));
        }
        Ok(Columns { headers, index })
    }

    /// Position of `field` in a row, when the file has it.
    pub fn get(&self, field: Field) -> Option<usize> {
        self.index[field as usize]
    }

    /// The header of `field` as written in the file, for messages a clerk can match to a column.
    pub fn header(&self, field: Field) -> &str {
        self.get(field).map_or(field.name(), |i| self.headers[i].as_str())
    }

    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    pub fn len(&self) -> usize {
        self.headers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUIRED: [Field; 5] =
        [Field::FirstName, Field::LastName, Field::Pan, Field::DateOfBirth, Field::Mobile];

    fn headers(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_listed_alias_maps_to_its_field() {
        for field in Field::ALL {
            for alias in field.aliases().iter().chain([&field.name()]) {
                assert_eq!(Field::parse(alias), Some(field), "{alias}");
                let upper = alias.to_uppercase();
                assert_eq!(Field::parse(&upper), Some(field), "{upper}");
            }
        }
    }

    #[test]
    fn excel_export_headers_resolve() {
        let cols = Columns::resolve(
            headers(&["Sr", "First Name", "Surname", "PAN No", "D.O.B", "Mobile No", "E-mail", "Branch"]),
            &[],
            &REQUIRED,
        )
        .unwrap();
        assert_eq!(cols.get(Field::Pan), Some(3));
        assert_eq!(cols.get(Field::Email), Some(6));
        assert_eq!(cols.get(Field::MiddleName), None);
        assert_eq!(cols.header(Field::DateOfBirth), "D.O.B");
        assert_eq!(cols.len(), 8);
    }

    #[test]
    fn missing_required_columns_are_all_named() {
        let err = Columns::resolve(headers(&["name", "pan"]), &[], &REQUIRED).unwrap_err();
        assert_eq!(
            err,
            HeaderProblem::Missing(vec![
                Field::FirstName,
                Field::LastName,
                Field::DateOfBirth,
                Field::Mobile
            ])
        );
    }

    #[test]
    fn two_columns_for_one_field_is_an_error() {
        let err = Columns::resolve(
            headers(&["first name", "last name", "PAN", "PAN No", "dob", "mobile"]),
            &[],
            &REQUIRED,
        )
        .unwrap_err();
        assert_eq!(err, HeaderProblem::Doubled { field: Field::Pan, columns: headers(&["PAN", "PAN No"]) });
    }

    #[test]
    fn explicit_map_wins_and_settles_a_doubled_field() {
        let cols = Columns::resolve(
            headers(&["first name", "last name", "PAN", "PAN No", "dob", "Cust Phone"]),
            &[(Field::Pan, "pan no".into()), (Field::Mobile, "Cust Phone".into())],
            &REQUIRED,
        )
        .unwrap();
        assert_eq!(cols.get(Field::Pan), Some(3));
        assert_eq!(cols.get(Field::Mobile), Some(5));
    }

    #[test]
    fn a_mapped_header_that_is_absent_is_named() {
        let err = Columns::resolve(
            headers(&["first name", "last name", "pan", "dob", "mobile"]),
            &[(Field::Email, "Mail ID".into())],
            &REQUIRED,
        )
        .unwrap_err();
        assert_eq!(err, HeaderProblem::MappedNotFound { field: Field::Email, header: "Mail ID".into() });
    }
}
