package model

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTodayIsTheCalendarDateOnTheClocksOwnZone(t *testing.T) {
	instant := time.Date(2026, 12, 5, 11, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		zone string
		want string
	}{
		{"UTC", "2026-12-05"},
		{"Pacific/Kiritimati", "2026-12-06"}, // UTC+14: already tomorrow
		{"America/Adak", "2026-12-05"},       // UTC−10 in December: 01:30
		{"Pacific/Pago_Pago", "2026-12-05"},  // UTC−11: 00:30
		{"Etc/GMT+12", "2026-12-04"},         // UTC−12: still yesterday
	} {
		loc, err := time.LoadLocation(tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		got := Today(instant.In(loc))
		if got.Format(DateLayout) != tc.want || got.Location() != time.UTC || got.Hour() != 0 {
			t.Errorf("Today in %s = %v, want %s at midnight UTC", tc.zone, got, tc.want)
		}
	}
}

// seedDates reads the seed's meeting days and due dates back from its inserts.
func seedDates(opts SeedOptions) (bookingDays, dueDates []string) {
	for _, st := range SeedStatements(opts) {
		switch {
		case strings.HasPrefix(st.SQL, "INSERT INTO bookings"):
			day, _, _ := strings.Cut(st.Args[3].(string), "T")
			if !slices.Contains(bookingDays, day) {
				bookingDays = append(bookingDays, day)
			}
		case strings.HasPrefix(st.SQL, "INSERT INTO tasks"):
			if due := st.Args[8].(string); due != "" {
				dueDates = append(dueDates, due)
			}
		}
	}
	slices.Sort(bookingDays)
	slices.Sort(dueDates)
	return bookingDays, dueDates
}

func TestSeedIsLaidOutAroundItsToday(t *testing.T) {
	for _, now := range []time.Time{
		time.Date(2027, 12, 5, 23, 59, 0, 0, time.FixedZone("UTC+14", 14*3600)),
		time.Date(2025, 12, 5, 0, 1, 0, 0, time.FixedZone("UTC-10", -10*3600)),
		time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC),
	} {
		days, due := seedDates(SeedOptions{Tasks: 400, Today: now})
		today := Today(now)
		var want []string
		for _, d := range SeedMeetingDays {
			want = append(want, today.AddDate(0, 0, d).Format(DateLayout))
		}
		if !slices.Equal(days, want) {
			t.Errorf("today %v: meetings on %v, want %v", now, days, want)
		}
		first, last := today.AddDate(0, 0, -10).Format(DateLayout), today.AddDate(0, 0, 49).Format(DateLayout)
		if len(due) == 0 || due[0] < first || due[len(due)-1] > last {
			t.Errorf("today %v: due dates %s…%s, want within %s…%s", now, due[0], due[len(due)-1], first, last)
		}
	}
}

func TestSeedMeetingsLeaveTheAfternoonFree(t *testing.T) {
	for _, st := range SeedStatements(SeedOptions{Tasks: 400}) {
		if !strings.HasPrefix(st.SQL, "INSERT INTO bookings") {
			continue
		}
		slot, err := time.Parse(SlotLayout, st.Args[3].(string))
		if err != nil {
			t.Fatal(err)
		}
		if slot.Hour() >= SeedMeetingHour(len(Rooms)) {
			t.Errorf("seed booking at %v: the seed books nothing from %d:00 on", slot, SeedMeetingHour(len(Rooms)))
		}
	}
}

func TestSeedWithoutTodayIsTheFixedDay(t *testing.T) {
	days, _ := seedDates(SeedOptions{Tasks: 400})
	if want := FixedSeedDay.Format(DateLayout); !slices.Contains(days, want) {
		t.Errorf("meetings on %v, want them around %s", days, want)
	}
}

// TestMigrationsAreTheAppFiles: the board's migrations come from
// examples/board/app/migrations, versions as their names say.
func TestMigrationsAreTheAppFiles(t *testing.T) {
	if len(Migrations) != 1 || Migrations[0].Version != 1 || !strings.Contains(Migrations[0].SQL, "CREATE TABLE bookings(") {
		t.Fatalf("migrations: %+v", Migrations)
	}
}
